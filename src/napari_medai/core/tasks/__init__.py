"""One module per clinical task (brain tumour, stroke, CAC, Alzheimer, LDCT)."""
