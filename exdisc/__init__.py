"""The ``exdisc`` command line: generate, simulate, prove, synthesize, flow."""
