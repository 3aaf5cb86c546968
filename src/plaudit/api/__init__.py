"""HTTP layer: the FastAPI app, dependencies, error mapping and routers."""
