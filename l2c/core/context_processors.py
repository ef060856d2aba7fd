from django.conf import settings


def l2c(request):
    return {"L2C_VERSION": "0.1.0", "DEBUG": settings.DEBUG}
