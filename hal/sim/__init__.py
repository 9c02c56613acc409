"""The simulated board: SLIC register model, GPIO model, two-wire line, virtual phones, clocks."""
