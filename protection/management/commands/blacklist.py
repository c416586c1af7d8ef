from protection.management.address_list_command import AddressListCommand
from protection.models import BlacklistEntry
from protection.services import blacklist_add, blacklist_remove


class Command(AddressListCommand):
    help = "Manage the IP blacklist: blocked addresses get HTTP 403 and their sockets close."
    list_name = "blacklist"
    model = BlacklistEntry
    add_service = staticmethod(blacklist_add)
    remove_service = staticmethod(blacklist_remove)
    add_verb = "Blacklisted"
