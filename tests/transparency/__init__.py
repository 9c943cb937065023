"""Tests of the DSA statements of reasons and their submission to the Transparency Database."""
