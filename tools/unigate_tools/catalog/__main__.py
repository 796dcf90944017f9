from unigate_tools.catalog import main

raise SystemExit(main())
