"""OCI distribution API client: auth challenges, credentials, the blob cache, the HTTP client."""
