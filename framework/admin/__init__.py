"""The admin area of the service, mounted at `/admin` (`app.mount_admin`): the console's server-rendered pages
(`console`, `pages`, `templates/`), the JSON API (`api`), the access rule (`access`) and the one guard
middleware that applies it with the CSRF checks (`guard`). Nothing is imported here: `chatwright check` reads
`access` without loading the web layer."""
