from bot.run import main

raise SystemExit(main())
