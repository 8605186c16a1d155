from runway.cli import main

raise SystemExit(main())
