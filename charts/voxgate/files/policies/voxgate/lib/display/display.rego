# METADATA
# title: Display helpers
# description: Formatting for denial messages.
package voxgate.lib.display

# METADATA
# title: Epsilon for messages
# description: x rounded to three decimals; epsilons from the accountant carry many digits.
epsilon(x) := round(x * 1000) / 1000
