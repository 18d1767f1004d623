from deploy.nvcf_deploy.cli import main

raise SystemExit(main())
