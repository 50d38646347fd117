"""Fleet simulator: many virtual sites against a real hub. (Empty until the simulator issue.)"""
