"""The policy service: decides per field and per mailbox what a change sends where (faust-streaming)."""
