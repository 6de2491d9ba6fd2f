"""Webhooks, the way deliveries from outside enter the inbox: route config, receiver, signature schemes.

Schedules, the other trigger, are the package framework.schedules.
"""
