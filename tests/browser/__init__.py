"""Browser tests of the JupyterLab panel, driven in Debian's chromium."""
