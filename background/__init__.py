"""Work each worker does on its own, outside any request: jobs that run now and then."""
