"""What a deployment runs besides the functions themselves: the pre-traffic gate."""
