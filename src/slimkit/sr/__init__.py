"""Super-resolution helpers: MATLAB-compatible bicubic resizing, the benchmark crop protocol and Y-channel metrics."""
