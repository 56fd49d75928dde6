"""Write-back: desired KAM values vs what the CRM holds, and the updates that close the gap."""
