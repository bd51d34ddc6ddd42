"""Common given names in US front-desk calls (a gazetteer for ``voice.names``).

Used only where a phrase alone is ambiguous ("this is grace", "i'm mark"): a
word here may be taken as a name after "this is" or "i'm"; any word may be a
name after "my name is".  Lower case, one per word.
"""

FIRST_NAMES = frozenset(
    """
    aaron abby abigail adam adrian adriana aiden aisha alan albert alex alexa alexander
    alexandra alexis alice alicia alison allison alma alvin amanda amber amelia amy ana
    andre andrea andrew andy angel angela angelica angie anita ann anna anne annie anthony
    antonio april arlene arnold arthur ashley audrey austin ava barbara barry beatriz becky
    ben benjamin bernard beth betty beverly bill billy bob bobby bonnie brad bradley brandon
    brenda brendan brian bridget brittany brooke bruce bryan caleb camila candace carl carla
    carlos carmen carol caroline carolyn carrie casey catherine cathy cecilia chad charles
    charlie charlotte chelsea cheryl chloe chris christian christina christine christopher
    cindy claire clara claudia clifford colin connie courtney craig crystal curtis cynthia
    daisy dale dan dana daniel daniela danielle danny darlene darren dave david dawn dean
    debbie deborah debra denise dennis derek diana diane diego dolores don donald donna
    doris dorothy doug douglas dylan earl eddie edgar edith eduardo edward eileen elaine
    eleanor elena elizabeth ella ellen emily emma eric erica erik erin ernest esther ethan
    eugene eva evelyn faith felicia felipe fernando fiona frances francisco frank fred
    gabriel gabriela gail gary gene george gerald gina gladys gloria gordon grace greg
    gregory guadalupe hailey hannah harold harry hazel heather hector heidi helen henry
    herbert holly hope howard hugo ian irene iris isaac isabel isabella jack jackie jacob
    jacqueline jaime jake james jamie jan jane janet janice jared jasmine jason javier jean
    jeff jeffrey jennifer jenny jeremy jerry jesse jessica jesus jill jim jimmy jo joan
    joann joanne joe joel john johnny jon jonathan jorge jose joseph josh joshua joy joyce
    juan juanita judith judy julia julian julie june justin karen karina kate katherine
    kathleen kathryn kathy katie kayla keith kelly ken kenneth kevin kim kimberly kristen
    kyle larry laura lauren laurie lawrence leah lee leon leslie lewis lillian lily linda
    lisa liz lois lori lorraine louis louise lucas lucia lucy luis luke lydia lynn madison
    maggie manuel marcus margaret maria marian marie marilyn mario marisol mark marlene
    martha martin marvin mary mason matt matthew maureen megan melanie melissa mia michael
    michelle miguel mike mildred miriam molly monica morgan nancy naomi natalie nathan
    neil nicholas nick nicole nina noah norma oliver olivia oscar pablo pam pamela pat
    patricia patrick paul paula pedro peggy penny peter phil philip phyllis priya rachel
    rafael ralph ramon randy ray raymond rebecca regina renee rhonda ricardo richard rick
    rita rob robert roberta roberto robin rodney roger ron ronald rosa rose rosemary ruby
    russell ruth ryan sally sam samantha samuel sandra sandy sara sarah scott sean sergio
    seth shannon sharon shawn sheila shirley sofia sonia sophia stacy stanley stephanie
    stephen steve steven sue susan suzanne sylvia tamara tammy tanya tara taylor ted teresa
    terry theresa thomas tiffany tim timothy tina todd tom tommy tony tracy travis tyler
    valerie vanessa vera veronica vicki victor victoria vincent virginia walter wanda wayne
    wendy william willie yolanda yvonne zachary
    """.split()
)
