import unittest

from stats import mean, median, mode, percentile


class Hidden(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(mean([2, 4]), 3)

    def test_median_odd(self):
        self.assertEqual(median([5, 1, 9, 3, 7]), 5)

    def test_median_even(self):
        self.assertEqual(median([10, 2, 8, 4]), 6)

    def test_median_even_floats(self):
        self.assertAlmostEqual(median([1.5, 2.5]), 2.0)

    def test_median_empty(self):
        with self.assertRaises(ValueError):
            median([])

    def test_percentile_ends(self):
        self.assertEqual(percentile([7, 1, 3], 0), 1)
        self.assertEqual(percentile([7, 1, 3], 100), 7)

    def test_mode(self):
        self.assertEqual(mode(["a", "b", "b"]), "b")
