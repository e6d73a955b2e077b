"""`python -m services.policy` starts one policy worker."""

from services.policy.main import main

main()
