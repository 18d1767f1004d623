from stress.runner import main

raise SystemExit(main())
