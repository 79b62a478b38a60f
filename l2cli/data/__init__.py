"""From a data set to arrays: the built-in data sets, a user's file read and checked, dates, preprocessing."""
