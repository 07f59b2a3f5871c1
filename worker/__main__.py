"""`python -m worker`: consume input_queue with a rembg session loaded once."""

from worker.service import main

raise SystemExit(main())
