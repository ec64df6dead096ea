"""The clinician console: server-rendered pages under /console over the API's use cases.

`service.console.app.init_console` wires it into the app (sessions, CSRF, headers, pages,
`/docs`); the pages live in the `views_*` modules, shared page plumbing in `web`.
"""
