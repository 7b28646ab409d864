"""Reflex configuration; deployment values come from his_portal.settings (HIS_* env)."""

import sys

import reflex as rx

from his_portal.settings import SettingsError, allowed_origins, get_settings

try:
    settings = get_settings()
except SettingsError as exc:  # one line, no traceback, for every reflex command
    sys.exit(f"Configuration error: {exc}")
# SQLite needs its folder before Reflex opens the database.
try:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
except OSError as exc:
    sys.exit(f"Configuration error: HIS_DATA_DIR {settings.data_dir}: {exc.strerror}")

config = rx.Config(
    app_name="his_portal",
    db_url=settings.db_url,
    redis_url=settings.redis_url or None,
    # Browsers reach the portal only at its public URL: the event websocket refuses
    # pages from any other origin, and no other origin may read the HTTP routes
    # (Reflex's default is "*").
    cors_allowed_origins=allowed_origins(settings.public_url),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="green", gray_color="slate", radius="medium")
        )
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
