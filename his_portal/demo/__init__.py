"""The demo clinic (demo mode only): accounts, patients, records, bookings."""
