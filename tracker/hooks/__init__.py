"""Framework hooks: capture only, and write through tracker.Run. Import the one for your framework."""
