"""Pure rules of the backends the local collector emulates (what each would answer and ingest), one module each."""
