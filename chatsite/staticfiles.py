"""Static files with hashed, compressed names (WhiteNoise's compressed manifest storage).

After `manage.py collectstatic`, `{% static %}` answers names with a content hash
(`parley/app.3f2b9c0e8d6a.js`), imports inside the ES modules are rewritten to the hashed names
too, and WhiteNoise serves them gzip/brotli-compressed with a year-long immutable cache header.
Before collectstatic has run (a fresh clone, the test servers), names stay plain and WhiteNoise
serves them from the source folders (WHITENOISE_USE_FINDERS), so nothing breaks.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ParleyStaticStorage(CompressedManifestStaticFilesStorage):
    # `import ... from "./api.js"` in static/parley/*.js point at hashed names after
    # collectstatic (Django's ES-module support, off by default).
    support_js_module_import_aggregation = True
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        """The hashed name from the manifest; the plain name when collectstatic has not run
        (or the file is new since), instead of an error page."""
        try:
            return super().stored_name(name)
        except ValueError:
            return name
