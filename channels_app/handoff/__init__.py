"""Where the customers go after the door closes: the landing page at the tracked link, who landed
and what they chose, and the contact requests written there."""
