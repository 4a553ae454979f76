"""The MongoDB store adapter: pymongo with real multi-document transactions, its error
translation, its change-stream watch, and the quirks of nx-27017 handled in one place.
"""
