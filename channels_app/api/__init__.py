"""The REST API (Django REST framework), mounted at /api/v1/.

Serializers validate, services act; every view declares which action of the
role matrix (channels_app.permissions.ROLE_ACTIONS) each of its operations needs.
"""
