"""Pure request/response logic of the backends the local collector speaks, one module each."""
