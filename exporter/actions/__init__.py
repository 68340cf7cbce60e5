"""The authenticated action API: the only part of the exporter that changes the world."""
