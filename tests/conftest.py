"""pytest setup shared by tests/python, tests/cli and tests/reference.

The suite checks libhyrsm against float32/float64 references to 1e-4, so it
runs in fp32: "auto" would be bf16 on CPUs with AVX512-BF16. HYRSM_PRECISION
says what "auto" means (docs/decisions.md); the bf16 tests ask for bf16 by
name, which this does not change. tests/meson.build does the same for the
meson tests."""
import os

os.environ.setdefault("HYRSM_PRECISION", "fp32")
