package voxgate.lib.display_test

import data.voxgate.lib.display

test_epsilon_rounds_to_three_decimals if {
	display.epsilon(2.6889476416191362) == 2.689
	display.epsilon(1.5) == 1.5
	display.epsilon(3) == 3
}
