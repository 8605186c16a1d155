"""The dashboard's screens: login, environments, one environment, one deployment, logs."""
