"""Django's command line for the chat example: ``python3 examples/django_chat/manage.py runserver PORT``."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
