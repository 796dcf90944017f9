"""The built-in `echo` provider: answers locally, with no network and no key.
"""
