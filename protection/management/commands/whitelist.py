from protection.management.address_list_command import AddressListCommand
from protection.models import WhitelistEntry
from protection.services import whitelist_add, whitelist_remove


class Command(AddressListCommand):
    help = "Manage the IP whitelist: these addresses are exempt from rate limits."
    list_name = "whitelist"
    model = WhitelistEntry
    add_service = staticmethod(whitelist_add)
    remove_service = staticmethod(whitelist_remove)
    add_verb = "Whitelisted"
