from deploy.nvcf_local.cli import main

raise SystemExit(main())
