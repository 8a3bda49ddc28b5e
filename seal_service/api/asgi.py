"""ASGI entry point for uvicorn workers: the app of the instance described by the environment."""

from seal_service.api.app import create_app

app = create_app()
