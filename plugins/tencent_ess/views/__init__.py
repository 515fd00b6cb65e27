"""Pages the api-server serves for this provider: the onboarding report of a run and of a DAG (`views.app`), and
what they read (`views.reading`)."""
