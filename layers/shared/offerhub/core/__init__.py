"""Pure building blocks shared by every capability: errors, ids, money, time, paging."""
