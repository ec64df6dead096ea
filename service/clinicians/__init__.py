"""The clinician read API: invites, patient summaries, timelines, plan changes."""
