"""nvcf-deploy: create, deploy, watch, list and delete STREAMING functions on NVCF (or nvcf-local).

See docs/deploy.md.
"""
