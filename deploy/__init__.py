"""Running the stack on one machine: nvcf-local (a stand-in for NVCF), coturn, and the demo."""
