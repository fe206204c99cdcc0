"""Schemathesis hooks for Redial's conformance run (tests/api_conformance.rs).

Two request bodies are documents, not JSON: a policy is TOML text and a plugin is a
WebAssembly component. Schemathesis knows neither media type, so each borrows the
serializer of its generic form.
"""

import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")
schemathesis.serializer.alias("application/wasm", "application/octet-stream")
